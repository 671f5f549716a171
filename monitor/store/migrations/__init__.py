"""Schema migrations, applied in VERSION order; never edit one that has shipped."""
