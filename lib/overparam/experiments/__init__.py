"""Chapter experiments: each module runs one chapter's experiment and builds its tables and summary."""
