"""Bordin: measure, monitor and analyse the therapeutic alliance.

Named after E. Bordin, who defined the working alliance as agreement on goals,
agreement on tasks, and the bond between patient and clinician.
"""

from bordin.errors import BordinError, BordinWarning, InputError

__version__ = "0.1.0"

__all__ = ["BordinError", "BordinWarning", "InputError", "__version__"]
