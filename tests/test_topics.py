from hypothesis import given, strategies as st

from authviz.topics import USER_CHANNEL_PREFIX, user_channel, user_id_from_channel
import re


def test_auth0_user_id_becomes_a_valid_channel_name():
    channel = user_channel("auth0|5f7c8ec7c33c6c004bbafe82")
    assert channel == "private-user-auth0=7C5f7c8ec7c33c6c004bbafe82"
    assert re.fullmatch(r"[A-Za-z0-9_\-=@,.;]+", channel)


@given(st.text(min_size=1, max_size=60))
def test_user_channel_round_trips(user_id):
    channel = user_channel(user_id)
    assert re.fullmatch(r"[A-Za-z0-9_\-=@,.;]+", channel)
    assert user_id_from_channel(channel) == user_id


def test_other_channels_are_not_user_channels():
    assert user_id_from_channel("presence-chat") is None
    assert user_id_from_channel(USER_CHANNEL_PREFIX + "=ZZ") == "=ZZ"
