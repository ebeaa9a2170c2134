"""Size and fit advice: parse body measurements, predict small / fit / large, recommend sizes.

::

    from mmshop.fit import FitModel, BodyProfile, load_fit_table

    frame, report = load_fit_table("renttherunway.parquet")
    model = FitModel().fit(frame)
    advice = model.recommend_size({"height": "5' 8\\"", "weight": "137lbs"}, item_id="2260466")
"""

from mmshop.fit.body_size import BodySizeModel, SizeEstimate
from mmshop.fit.config import BodySizeConfig, FitConfig
from mmshop.fit.measurements import BodyProfile
from mmshop.fit.model import FitModel, SizeAdvice, SizeOption
from mmshop.fit.records import FIT_LABELS, ParseReport, load_fit_table, read_raw_records

__all__ = [
    "FIT_LABELS",
    "BodyProfile",
    "BodySizeConfig",
    "BodySizeModel",
    "FitConfig",
    "FitModel",
    "ParseReport",
    "SizeAdvice",
    "SizeEstimate",
    "SizeOption",
    "load_fit_table",
    "read_raw_records",
]
