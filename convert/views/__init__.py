"""Views of an analysis: the dilation table (`explain`) and the pictures (`draw`)."""
