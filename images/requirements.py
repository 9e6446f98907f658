"""Print the project's requirements (core plus the given extras) from pyproject.toml, one a line.

The Dockerfiles install these in a layer of their own before copying the source, so that a
source change rebuilds in seconds:  python3 images/requirements.py worker > requirements.txt
"""

import sys
import tomllib

with open("pyproject.toml", "rb") as fh:
    project = tomllib.load(fh)["project"]
lines = list(project["dependencies"])
for extra in sys.argv[1:]:
    lines += project["optional-dependencies"][extra]
print("\n".join(dict.fromkeys(lines)))
