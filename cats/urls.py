from __future__ import annotations

from django.urls import path

from cats import views

app_name = "cats"
urlpatterns = [
    path("", views.cat_list, name="list"),
    path("<int:cat_id>/", views.chat_page, name="chat"),
]
