"""Meta-learners, one module per algorithm; each returns traces of what happened inside it."""
