"""Work done outside the request: schedules, dispatch, report runs and deliveries."""
