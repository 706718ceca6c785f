from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.forms import AdminLoginForm
from accounts.models import User

admin.site.register(User, UserAdmin)
# The admin's log-in page shares the log-in lockout with the log-in page and the token API.
admin.site.login_form = AdminLoginForm
