"""Clinical modules: GMF-shaped JSON pathways."""
