"""Sign-up (sharing REST sign-up's throttle), and log-in on Django's view with the log-in lockout.
Log-out is Django's own view.

The account page (`/account/`): profile, password change (Django's view and form), export (a
download), and deleting the account; the password reset by e-mail is Django's views with our
templates (accounts/urls.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm, PasswordResetForm
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.cache import add_never_cache_headers
from django.utils.http import content_disposition_header
from django.views import View
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import login_throttle, reset_throttle, signup_throttle
from accounts.forms import DeleteAccountForm, LoginForm, ProfileForm, SignUpForm
from accounts.models import User
from accounts.services import AccountInputError, user_delete, user_update


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("cats:list")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and (wait := signup_throttle.wait_seconds(request)):
        form.add_error(None, signup_throttle.refusal(wait))
        response = render(request, "accounts/signup.html", {"form": form}, status=429)
        response["Retry-After"] = str(wait)
        return response
    if request.method == "POST" and form.is_valid():
        user = form.save()
        # Straight into the app: asking for the password again right after choosing it is friction.
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("cats:list")
    return render(request, "accounts/signup.html", {"form": form})


class LoginView(auth_views.LoginView):
    """Django's log-in page; a locked-out attempt (LoginForm) is a 429 with Retry-After."""

    form_class = LoginForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_invalid(self, form: LoginForm) -> HttpResponse:  # type: ignore[override]
        response = super().form_invalid(form)
        if form.retry_after:
            response.status_code = 429
            response["Retry-After"] = str(form.retry_after)
        return response


# --- the account page ----------------------------------------------------------------------

ACCOUNT_TEMPLATE = "accounts/account.html"
GOODBYE = "Your account and your cats were deleted, with everything they remembered. Goodbye!"


def _me(request: HttpRequest) -> User:
    # login_required has run: a real User, not AnonymousUser.
    assert isinstance(request.user, User)  # noqa: S101
    return request.user


def _account_forms(user: User, **posted: forms.Form) -> dict[str, forms.Form]:
    """The account page's forms: blank ones, but for the section that was posted (`posted`:
    bound, with its errors).

    Focus goes to the first field in error, so a keyboard or screen reader user lands on what
    to correct; otherwise nowhere (Django's password form would grab it on every visit).
    """
    page: dict[str, forms.Form] = {
        "profile_form": ProfileForm(initial={"username": user.username, "email": user.email}),
        "password_form": PasswordChangeForm(user),
        "delete_form": DeleteAccountForm(user=user),
        **posted,
    }
    for form in page.values():
        for field in form.fields.values():
            field.widget.attrs.pop("autofocus", None)
        if form.is_bound and form.errors:
            first = next((name for name in form.fields if name in form.errors), None)
            first = first or next(iter(form.fields))
            form.fields[first].widget.attrs["autofocus"] = True
    return page


def _account_page(request: HttpRequest, **posted: forms.Form) -> HttpResponse:
    return render(request, ACCOUNT_TEMPLATE, _account_forms(_me(request), **posted))


@require_GET
@login_required
def account(request: HttpRequest) -> HttpResponse:
    return _account_page(request)


@require_POST
@login_required
def profile_update(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST)
    if form.is_valid():
        try:
            user_update(user=_me(request), **form.cleaned_data)
        except AccountInputError as exc:
            for field, errors in exc.errors.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            messages.success(request, "Your profile was saved.")
            return redirect("account")
    # The refused values are shown back, not the stored ones: the user corrects what they typed.
    _me(request).refresh_from_db(fields=["username", "email"])
    return _account_page(request, profile_form=form)


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change (old password, then the new one twice, validated by
    AUTH_PASSWORD_VALIDATORS; login required); this session stays logged in, the account's other
    sessions end (their session hash no longer matches). The form is on the account page."""

    template_name = ACCOUNT_TEMPLATE
    success_url = reverse_lazy("account")

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return redirect(f"{reverse('account')}#password")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        page = _account_forms(_me(self.request), password_form=kwargs.pop("form"))
        return super().get_context_data(**page, **kwargs)

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        response = super().form_valid(form)
        messages.success(self.request, "Your password was changed.")
        return response


class ExportView(LoginRequiredMixin, View):
    """A download of everything the signed-in person owns, as one JSON file.

    The document is `export(user)`, named `filename(user)`: the same as REST `me/export/`, whose
    builder (catchat/export.py) reads every app, so the URL module, which is wiring, hands it in
    (accounts/account_urls.py) and this app imports no other.
    """

    http_method_names = ["get"]
    export: Callable[[User], dict[str, Any]] | None = None
    filename: Callable[[User], str] | None = None

    def get(self, request: HttpRequest) -> HttpResponse:
        assert self.export is not None and self.filename is not None  # noqa: S101 - as_view()
        user = _me(request)
        # ASCII JSON, as the REST route answers: a lone surrogate in a message can't be UTF-8.
        body = json.dumps(self.export(user), indent=2, ensure_ascii=True)
        response = HttpResponse(body, content_type="application/json")
        response["Content-Disposition"] = content_disposition_header(True, self.filename(user))
        # Personal data: no cache, shared or private, keeps a copy.
        add_never_cache_headers(response)
        return response


@require_POST
@login_required
def account_delete(request: HttpRequest) -> HttpResponse:
    """Deletes the account and all it owns (accounts.services.user_delete: its tokens are
    blacklisted, its sockets closed) once the username is typed exactly; then logs out and
    says goodbye on the log-in page."""
    user = _me(request)
    form = DeleteAccountForm(request.POST, user=user)
    if not form.is_valid():
        return _account_page(request, delete_form=form)
    user_delete(user=user)
    logout(request)
    # After logout: the message outlives the flushed session (in the messages cookie).
    messages.success(request, GOODBYE)
    return redirect("login")


# --- password reset by e-mail ----------------------------------------------------------------


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset request (it never says whether an account has the address), with limits
    on the mail it sends (accounts/reset_throttle.py)."""

    template_name = "accounts/password_reset_form.html"
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"

    def form_valid(self, form: PasswordResetForm) -> HttpResponse:
        if not reset_throttle.address_allowed(login_throttle.client_address(self.request)):
            form.add_error(None, reset_throttle.REFUSAL)
            response = self.form_invalid(form)
            response.status_code = 429
            response["Retry-After"] = str(reset_throttle.WINDOW_S)
            return response
        if not reset_throttle.email_allowed(form.cleaned_data["email"]):
            # The usual page, no mail: the same as for an address without an account.
            return HttpResponseRedirect(self.get_success_url())
        return super().form_valid(form)
