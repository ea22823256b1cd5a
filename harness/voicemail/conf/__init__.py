"""The standalone server's configuration, in the Asterisk ``.conf`` dialect.

:mod:`.dialect` reads the dialect (sections, templates, includes, file and line of each option),
:mod:`.values` the typed values within it; :mod:`.voicemail_conf`, :mod:`.sip_conf` and
:mod:`.smdi_conf` turn one file each into frozen settings, and :mod:`.server_config` loads a
configuration directory and cross-checks its files.
"""
