from django.urls import path

from . import views

app_name = "blog"
urlpatterns = [
    path("", views.index, name="index"),
    path("entry/<slug:slug>/", views.entry, name="entry"),
    path("entry/<slug:slug>/comment/", views.add_comment, name="add_comment"),
]
