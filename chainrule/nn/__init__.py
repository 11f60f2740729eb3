"""Neural-network building blocks, one concept per file, with no knowledge of data or models."""
