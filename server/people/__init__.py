"""Finding the people to add to a care room."""
