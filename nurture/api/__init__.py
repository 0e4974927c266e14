"""The REST API's customer side: token authentication, the rate limit, customers and milestones."""
