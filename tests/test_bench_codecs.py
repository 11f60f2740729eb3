"""The classic codecs the compression benchmark compares against: each returns the size of an output that it
decoded back to the input; a tool that is not installed is reported as missing."""

import shutil

import pytest

from chainrule import lossless as codecs

TEXT = b"".join(b"line %d: to be, or not to be, that is the question\n" % i for i in range(400))


@pytest.mark.parametrize("name", sorted(codecs.STREAM_CODECS))
def test_a_stream_codec_compresses_and_decodes_text(name):
    try:
        size = codecs.STREAM_CODECS[name](TEXT)
    except codecs.Missing as err:
        assert "setup-codecs.sh" in str(err)
        pytest.skip(str(err))
    assert 0 < size < len(TEXT) / 4  # repetitive text shrinks several-fold


def test_a_missing_tool_is_reported_with_the_install_step(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(codecs.Missing, match="setup-codecs.sh"):
        codecs.zpaq(TEXT)
