"""Everything that speaks to the Pinterest API: the client, its page models and the fake."""
