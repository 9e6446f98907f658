"""Feature encoders shared by specifications and the hetero engine."""
