"""One module a resource, each exporting ``router``."""
