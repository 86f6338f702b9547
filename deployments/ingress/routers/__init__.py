"""One APIRouter per resource; each ``routers/X.py`` has its bodies in ``schemas/X.py``."""
