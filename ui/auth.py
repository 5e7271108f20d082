"""Sign in and out. The signed-in user lives in the session; roles come from `rag.users`."""

import streamlit as st

from rag.users import LoginLockedError, User, UserStore


def current_user() -> User | None:
    return st.session_state.get("user")


def login_form(users: UserStore, where: str = "sidebar") -> None:
    container = st.sidebar if where == "sidebar" else st
    with container.form(f"login-{where}", clear_on_submit=True):
        st.markdown("**Sign in**")
        name = st.text_input("User name", key=f"login-name-{where}")
        password = st.text_input("Password", type="password", key=f"login-password-{where}")
        submitted = st.form_submit_button("Sign in")
    if not submitted:
        return
    try:
        user = users.verify(name.strip(), password)
    except LoginLockedError as err:
        container.error(str(err))
        return
    if user is None:
        container.error("Wrong user name or password.")
        return
    st.session_state.user = user
    st.rerun()


def account_box(users: UserStore) -> None:
    """In the sidebar: who is signed in and a sign-out button, or the sign-in form."""
    user = current_user()
    if user is None:
        login_form(users)
        return
    st.sidebar.caption(f"Signed in as **{user.name}** ({user.role})")
    if st.sidebar.button("Sign out"):
        st.session_state.pop("user", None)
        st.session_state.pop("messages", None)
        st.rerun()
