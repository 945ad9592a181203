"""The package version (a module of its own, so that modules inside daftrl can read it without importing the
package's top level)."""

__version__ = "0.1.0"
