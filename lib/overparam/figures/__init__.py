"""Chapter figures: each module draws one chapter's figures from its data and returns them."""
