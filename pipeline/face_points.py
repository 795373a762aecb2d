"""The 68-point face vocabulary (iBUG 300-W, dlib's shape predictor): which index is what.

Landmarks, mask geometry and skin tone all place things on the face by these points; naming
them once keeps the three agreeing (a swapped index in one place is a wrong mask edge or a
skin patch on an eyebrow, and no test of the other two would notice). Left and right are
as seen in the image.
"""

from __future__ import annotations

JAW = slice(0, 17)  # along the jawline, from the image's left ear to its right
JAW_LEFT_END, JAW_RIGHT_END = 0, 16  # where the jawline meets the ears
JAW_NEAR_LEFT_END, JAW_NEAR_RIGHT_END = 1, 15
CHIN = 8  # the lowest jaw point
BROWS = slice(17, 27)
NOSE_BRIDGE = slice(27, 31)  # top of the bridge (27) down to the tip (30)
NOSE_TIP = 30
NOSTRILS = slice(31, 36)
LEFT_EYE = slice(36, 42)
RIGHT_EYE = slice(42, 48)
EYES = slice(36, 48)
LEFT_EYE_LOWER, RIGHT_EYE_LOWER = 41, 46  # lower lids, outer halves
MOUTH = slice(48, 68)
