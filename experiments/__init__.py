"""experiments: the drivers of the training experiments (``make train``), their data sets,
networks, reports and command-line types."""
