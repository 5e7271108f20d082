"""Sign in and out. The signed-in user lives in the session and is read again from `accounts.users` on every run,
so a removed user, a changed role or a changed password takes effect at once; an idle session is signed out."""

import time

import streamlit as st

from accounts.audit import Who
from accounts.users import SignInThrottledError, User, UserStore
from rag.settings import Settings
from ui.resources import audit_log


def current_user() -> User | None:
    return st.session_state.get("user")


def client_address(settings: Settings) -> str:
    """Who is signing in, for the throttle: the address a trusted reverse proxy reports (RAG_CLIENT_IP_HEADER,
    its last entry: the one the proxy itself saw), else the connection's; `local` for this machine."""
    if settings.client_ip_header:
        forwarded = st.context.headers.get(settings.client_ip_header)
        if isinstance(forwarded, str) and forwarded.split(",")[-1].strip():
            return forwarded.split(",")[-1].strip()
    address = st.context.ip_address
    return address if isinstance(address, str) and address else "local"  # None on this machine (and in AppTest)


def who(settings: Settings) -> Who:
    """The audit trail's actor (the signed-in user, else `anonymous`) and client address."""
    user = current_user()
    return Who(user.name if user else "anonymous", client_address(settings))


def sign_out(reason: str | None = None) -> None:
    for key in ("user", "messages", "last_seen", "chat_id"):
        st.session_state.pop(key, None)
    if reason:
        st.session_state.signed_out_reason = reason


def refresh_session(users: UserStore, settings: Settings, touch: bool = True) -> None:
    """Replace the session's user with the stored one, or sign it out when it was removed, its password changed,
    or it was idle too long. `touch` marks activity (automatic refreshes of a fragment are not activity)."""
    user = current_user()
    if user is None:
        return
    now = time.time()
    stored = users.get(user.name)
    idle_limit = settings.session_idle_minutes
    if stored is None:
        sign_out("Your account was removed: you have been signed out.")
    elif stored.stamp != user.stamp:
        sign_out("Your password was changed: sign in again.")
    elif now - st.session_state.get("last_seen", now) > idle_limit * 60:
        sign_out(f"Signed out after {idle_limit} minutes without activity: sign in again.")
    else:
        st.session_state.user = stored  # the role as it is now
        if touch:
            st.session_state.last_seen = now


def login_form(users: UserStore, settings: Settings, where: str = "sidebar") -> None:
    container = st.sidebar if where == "sidebar" else st
    if reason := st.session_state.pop("signed_out_reason", None):
        container.info(reason)
    with container.form(f"login-{where}", clear_on_submit=True):
        st.markdown("**Sign in**")
        name = st.text_input("User name", key=f"login-name-{where}", max_chars=64)
        password = st.text_input("Password", type="password", key=f"login-password-{where}", max_chars=1024)
        submitted = st.form_submit_button("Sign in")
    if not submitted:
        return
    try:
        user = users.verify(name.strip(), password, client_address(settings))
    except SignInThrottledError as err:
        audit_log().record(who(settings), "sign_in.locked", name.strip())
        container.error(str(err))
        return
    if user is None:
        audit_log().record(who(settings), "sign_in.failed", name.strip())
        container.error("Wrong user name or password.")
        return
    audit_log().record(Who(user.name, client_address(settings)), "sign_in.ok", user.name)
    st.session_state.user = user
    st.session_state.last_seen = time.time()
    st.rerun()


def account_box(users: UserStore, settings: Settings) -> None:
    """In the sidebar: who is signed in and a sign-out button, or the sign-in form."""
    user = current_user()
    if user is None:
        login_form(users, settings)
        return
    st.sidebar.caption(f"Signed in as **{user.name}** ({user.role})")
    if st.sidebar.button("Sign out"):
        audit_log().record(who(settings), "sign_out", user.name)
        sign_out()
        st.rerun()
