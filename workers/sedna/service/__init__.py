"""Data-plane clients and servers of the Sedna worker SDK."""
