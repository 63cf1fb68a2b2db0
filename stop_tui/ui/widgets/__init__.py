"""One widget a file; each renders a part of the RunModel."""
