"""Modal screens: approval, stop confirmation, help, errors."""
