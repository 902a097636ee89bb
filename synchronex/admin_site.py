"""The admin site's own views held to the rules of its model pages: autocomplete and "View on site".

Django's autocomplete endpoint (``/admin/autocomplete/?app_label=…&model_name=…&field_name=…``)
answers for any foreign key whose target has an admin with search fields, asking only for view
permission on the target, and names each row by ``str(obj)``, not as the target's list names it:
a pasted BYOK key that list redacts (``RedactedAdmin``) came back whole, and a ``term`` holding
a NUL character, which the lists' search box refuses, reached the database (a 500). Here it
answers only a field whose admin offers it autocomplete (``autocomplete_fields``; none does
today), checks ``term`` with the search box's own form, and names rows as the target's pages
name the rows they load (``loaded_rows``).

Django's "View on site" redirect (``/admin/r/<content type>/<id>/``) loads any object for any
staff member and follows its ``get_absolute_url``. No model here has a page outside the admin
(DOT's application model names a route this project does not have: a 500), an id that is no key
of the model was a 500 as well, and "exists" and "missing" answered differently for staff without
any permission. It answers 404 here, for any id, without a query.
"""

from __future__ import annotations

from django.contrib.admin import AdminSite
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.contrib.admin.views.main import SEARCH_VAR, ChangeListSearchForm
from django.core.exceptions import BadRequest, PermissionDenied
from django.http import Http404
from django.urls import path


class CheckedAutocompleteJsonView(AutocompleteJsonView):
    """Django's autocomplete answers, for offered fields only, named as the target's list names them."""

    def process_request(self, request):
        term, model_admin, source_field, to_field_name = super().process_request(request)
        source = source_field.model
        offered = self.admin_site.is_registered(source) and source_field.name in (
            self.admin_site.get_model_admin(source).get_autocomplete_fields(request)
        )
        if not offered:
            raise PermissionDenied  # as Django answers a field that is not a foreign key
        search = ChangeListSearchForm({SEARCH_VAR: term})
        if not search.is_valid():
            raise BadRequest(" ".join(search.errors[SEARCH_VAR]))
        return term, model_admin, source_field, to_field_name

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["object_list"] = self.model_admin.loaded_rows(list(context["object_list"]))
        return context


def no_page_outside_the_admin(request, content_type_id, object_id):
    raise Http404("No object here has a page outside the admin.")


def install(site: AdminSite) -> None:
    """These views on ``site`` (Django's default site, which the project configures in place)."""
    site.autocomplete_view = lambda request: CheckedAutocompleteJsonView.as_view(admin_site=site)(request)
    django_urls = site.get_urls
    view_on_site = path(
        "r/<path:content_type_id>/<path:object_id>/", site.admin_view(no_page_outside_the_admin), name="view_on_site"
    )

    def get_urls():
        return [view_on_site if getattr(url, "name", None) == "view_on_site" else url for url in django_urls()]

    site.get_urls = get_urls
