"""Scripts run inside a baked project, with its Python and its settings (`python <script>`
in the project's folder): what a team's database holds, written and read back.
"""

from pathlib import Path

FOLDER = Path(__file__).parent
