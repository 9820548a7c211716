"""What the worker and the people's side both need to run.

Settings (:mod:`.settings`), the one Temporal client factory (:mod:`.connection`), payload
encryption keys and codec (:mod:`.codec`), secret files (:mod:`.secrets`), personal links
(:mod:`.links`), and the embedded dev server (:mod:`.devserver`) and mail sink
(:mod:`.mailsink`). Stands on :mod:`protocols` only.
"""
