"""Static realtime: voicemail.conf and sip.conf read from a database, as Asterisk reads them.

:mod:`.driver` is the protocol every database driver meets; :mod:`.sqlite` and :mod:`.pgsql`
are the drivers (the only modules here that talk to a database); :mod:`.connection` opens the
driver an extconfig.conf mapping names; :mod:`.tables` turns a table's rows into the sections
of a configuration file; :mod:`.pins` writes a PIN changed from the menu back into its row.
"""
