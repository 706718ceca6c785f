"""Sign-up (sharing REST sign-up's throttle), and log-in on Django's view with the log-in lockout.
Log-out is Django's own view."""

from __future__ import annotations

from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts import signup_throttle
from accounts.forms import LoginForm, SignUpForm


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
