"""Report types: one module each, registered in ``registry``."""
