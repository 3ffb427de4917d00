"""Every domain's ORM models, imported in one place so the metadata is complete (Alembic, tests)."""

from tenantry.connections import models as connection_models  # noqa: F401
from tenantry.core.db import Base
from tenantry.llm import models as llm_models  # noqa: F401
from tenantry.orchestration import models as orchestration_models  # noqa: F401
from tenantry.pipelines import models as pipeline_models  # noqa: F401
from tenantry.prompts import models as prompt_models  # noqa: F401
from tenantry.semantic import models as semantic_models  # noqa: F401
from tenantry.tenancy import models as tenancy_models  # noqa: F401
from tenantry.transforms import models as transform_models  # noqa: F401
from tenantry.warehouse import models as warehouse_models  # noqa: F401

metadata = Base.metadata
