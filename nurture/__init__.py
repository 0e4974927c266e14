"""The customer side: customers, milestones, kinds, tags, their import and export, and the pure libraries below it."""
