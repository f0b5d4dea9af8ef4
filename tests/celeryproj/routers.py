"""Router functions, as projects write them (Celery's signature)."""


def route_by_priority(name, args, kwargs, options, task=None, **kw):
    if kwargs.get("urgent"):
        return {"queue": "urgent", "priority": 9}
    return None


def route_to_name(name, args, kwargs, options, task=None, **kw):
    if name.endswith(".nightly"):
        return "batch"
    return None


def route_badly(name, args, kwargs, options, task=None, **kw):
    return 42
