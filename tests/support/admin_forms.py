"""Helpers for tests of the admin's change forms."""


def form_data(page) -> dict:
    """What the change form on ``page`` (a test client's response) would post back as it stands."""
    form = page.context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif isinstance(value, (list, tuple)):
            data[name] = [str(item) for item in value]
        elif value is not None:
            data[name] = str(value)
    return data
