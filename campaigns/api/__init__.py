"""The REST API's campaign side: touchpoints, activities and the events in."""
