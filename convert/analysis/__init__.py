"""The analysis: time arithmetic over a spec (`shapes`: widths, grids, dilations, window, receptive
field), its warnings (`hints`), and the limits checked before anything is built (`limits`)."""

from convert.analysis.shapes import Analysis, LayerPlan, analyse

__all__ = ["Analysis", "LayerPlan", "analyse"]
