# Managed by cso agent (keystone role): the Keystone public WSGI application of this
# instance, reading /etc/keystone/keystone.conf.
# Keystone 25.0.0 (OpenStack 2024.1) from the virtual environment /opt/keystone-venv
# (WSGIDaemonProcess python-home in /etc/httpd/keystone-httpd.conf).
import os

VENV = "/opt/keystone-venv"

os.environ["OS_KEYSTONE_CONFIG_DIR"] = "/etc/keystone"
os.environ["OS_KEYSTONE_CONFIG_FILES"] = "keystone.conf"

import keystone

if not os.path.realpath(keystone.__file__).startswith(os.path.realpath(VENV) + os.sep):
    raise ImportError("keystone was imported from %s, not from %s: check python-home in /etc/httpd/keystone-httpd.conf"
                      % (keystone.__file__, VENV))

from keystone.server.wsgi import initialize_public_application

application = initialize_public_application()
