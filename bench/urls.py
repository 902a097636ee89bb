from django.http import JsonResponse
from django.urls import include, path


def trivial(request):
    """The ceiling: a JSON answer through the same middleware stack, with no auth and no query."""
    return JsonResponse({"ok": True})


urlpatterns = [
    path("bench/trivial", trivial),
    path("", include("synchronex.urls")),
]
