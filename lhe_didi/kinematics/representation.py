"""The coordinate systems a DiDi model can work in, and the standardisation of their coordinates.

* ``particles`` (method paper, :mod:`.event_map`): (pT, eta, phi) of the six decay products,
  17 training coordinates (nu~'s redundant pT and phi kept).
* ``decay-chain`` (:mod:`.decay_chain`): top kinematics, resonance masses and decay angles,
  15 coordinates, with the Breit-Wigner peaks of m_t and m_W flattened by the preprocessing.
* ``decay-chain-beams``: the same, with the b direction in the top rest frame in bipolar
  coordinates about the two beams, which resolve b quarks collinear with a beam.

Both act on the six decay products in the frame where their summed pT vanishes. A model directory
records its representation in ``config["preprocessing"]["representation"]``; older models without
the entry use ``particles``. The decay-chain ones flatten the resonance masses on a scale recorded as
``config["preprocessing"]["breit_wigner_scale"]`` (:data:`.decay_chain.BREIT_WIGNER_SCALES`; absent = ``width``).
"""

from __future__ import annotations

import numpy as np

from . import decay_chain, event_map


class Representation:
    """Common interface: encode momenta, decode coordinates, shape for the network, physicality."""

    name: str
    features: list[str]
    breit_wigner_scale: str = "width"  # flattening scale of the resonance masses (only decay-chain ones have masses)

    def encode(self, momenta: np.ndarray) -> event_map.EncodedEvents:
        """Six four-momenta (N, 6, 4) in their zero-pT frame -> coordinates and global azimuth."""
        raise NotImplementedError

    def decode(self, features: np.ndarray, rotation: np.ndarray, masses: np.ndarray, neutrino: str) -> np.ndarray:
        """Coordinates -> six four-momenta (N, 6, 4) with zero summed pT (NaN where not physical)."""
        raise NotImplementedError

    def shape(self, features: np.ndarray, top: tuple | None = None) -> np.ndarray:
        """Non-linear preprocessing before standardisation; ``top`` = (pole, width) of the top, scalars or per
        event, where the coordinates have a top mass (default 172.5 / 1.453 GeV)."""
        raise NotImplementedError

    def unshape(self, shaped: np.ndarray, top: tuple | None = None) -> np.ndarray:
        """Inverse of :meth:`shape`."""
        raise NotImplementedError

    def unphysical(self, features: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        """Mask of network outputs that are non-finite, have pT <= 0 or leave the training range
        (``low``, ``high``) in a longitudinal coordinate or a resonance mass."""
        bad = ~np.all(np.isfinite(features), axis=1)
        positive = [i for i, name in enumerate(self.features) if name.startswith("pt_")]
        bad |= np.any(features[:, positive] <= 0.0, axis=1)
        ranged = [i for i, name in enumerate(self.features) if name.startswith(("eta_", "y_", "m_"))]
        bad |= np.any((features[:, ranged] < low[ranged]) | (features[:, ranged] > high[ranged]), axis=1)
        return bad


class Particles(Representation):
    """(pT, eta, phi) of b, l+, nu, b~, l-, nu~, l+ rotated to phi = 0 (17 coordinates)."""

    name = "particles"
    features = event_map.TRAINING_FEATURES

    def encode(self, momenta):
        return event_map.encode(momenta)

    def decode(self, features, rotation, masses, neutrino="boost"):
        return event_map.decode(features, rotation, masses, neutrino=neutrino)

    def shape(self, features, top=None):
        if top is not None:
            raise ValueError("the particles representation has no top mass coordinate to centre on a condition")
        return event_map.shape(features)

    def unshape(self, shaped, top=None):
        if top is not None:
            raise ValueError("the particles representation has no top mass coordinate to centre on a condition")
        return event_map.unshape(shaped)


class DecayChain(Representation):
    """Top (pT, y), resonance masses and decay angles of both sides (15 coordinates); ``b_direction`` says how
    the b direction in the top rest frame is given (``helicity`` angles, or bipolar about the ``beam-poles``)."""

    def __init__(self, name: str = "decay-chain", b_direction: str = "helicity", breit_wigner_scale: str = "width"):
        self.name, self.b_direction, self.breit_wigner_scale = name, b_direction, breit_wigner_scale
        self.features = decay_chain.features(b_direction)

    def encode(self, momenta):
        features, rotation = decay_chain.encode(momenta, self.b_direction)
        return event_map.EncodedEvents(features=features, rotation=rotation)

    def decode(self, features, rotation, masses, neutrino="boost"):
        """pT balance is exact by construction; ``neutrino`` has no effect here."""
        return decay_chain.decode(features, rotation, masses, self.b_direction)

    def shape(self, features, top=None):
        return decay_chain.shape(features, self.b_direction, self.breit_wigner_scale, top)

    def unshape(self, shaped, top=None):
        return decay_chain.unshape(shaped, self.b_direction, self.breit_wigner_scale, top)


REPRESENTATIONS = {r.name: r for r in (Particles(), DecayChain(), DecayChain("decay-chain-beams", "beam-poles"))}


def default_breit_wigner_scale(name: str) -> str:
    """The Breit-Wigner scale a new model in representation ``name`` gets unless one is asked for: ``half-width``
    for the decay-chain ones (a Breit-Wigner peak becomes a smooth 1 / cosh), ``width`` for ``particles``
    (no masses)."""
    return "half-width" if isinstance(REPRESENTATIONS.get(name), DecayChain) else "width"


def get(name: str, breit_wigner_scale: str = "width") -> Representation:
    """The representation called ``name`` (``particles``, ``decay-chain`` or ``decay-chain-beams``), its resonance
    masses flattened on ``breit_wigner_scale`` (decay-chain ones only; see :data:`.decay_chain.BREIT_WIGNER_SCALES`)."""
    try:
        representation = REPRESENTATIONS[name]
    except KeyError:
        raise ValueError(f"unknown representation {name!r}; choose from {', '.join(REPRESENTATIONS)}") from None
    if breit_wigner_scale not in decay_chain.BREIT_WIGNER_SCALES:
        raise ValueError(
            f"unknown Breit-Wigner scale {breit_wigner_scale!r};"
            f" choose from {', '.join(decay_chain.BREIT_WIGNER_SCALES)}"
        )
    if breit_wigner_scale == "width":
        return representation
    if not isinstance(representation, DecayChain):
        raise ValueError(
            f"the {name} representation has no resonance masses; the Breit-Wigner scale applies to decay-chain ones"
        )
    return DecayChain(representation.name, representation.b_direction, breit_wigner_scale)


class Preprocessor:
    """Shaping (see each representation) and standardisation with stored mean and standard deviation,
    fitted on training data and stored with a model so that encoding is reproducible."""

    def __init__(
        self, mean: np.ndarray, std: np.ndarray, representation: str = "particles", breit_wigner_scale: str = "width"
    ):
        self.representation = get(representation, breit_wigner_scale)
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)
        size = len(self.representation.features)
        if self.mean.shape != (size,) or self.std.shape != (size,):
            raise ValueError(f"mean and std must have {size} entries for the {representation} representation")
        if not np.all(self.std > 0):
            raise ValueError("std must be positive")

    @classmethod
    def fit(
        cls,
        features: np.ndarray,
        representation: str = "particles",
        breit_wigner_scale: str = "width",
        top: tuple | None = None,
    ) -> Preprocessor:
        """Fit mean and standard deviation on (N, D) training coordinates (``top``: see :meth:`forward`)."""
        shaped = get(representation, breit_wigner_scale).shape(features, top)
        return cls(shaped.mean(axis=0), shaped.std(axis=0), representation, breit_wigner_scale)

    def forward(self, features: np.ndarray, top: tuple | None = None) -> np.ndarray:
        """(N, D) coordinates -> standardised network inputs; ``top`` = (pole, width) per event or scalars for
        mass-conditional models (the top masses flattened around each event's own pole)."""
        return (self.representation.shape(features, top) - self.mean) / self.std

    def inverse(self, standardised: np.ndarray, top: tuple | None = None) -> np.ndarray:
        """Standardised network outputs -> (N, D) coordinates (same ``top`` as :meth:`forward`)."""
        return self.representation.unshape(np.asarray(standardised, dtype=np.float64) * self.std + self.mean, top)

    def to_dict(self) -> dict:
        """JSON-serialisable statistics (the Breit-Wigner scale only where it is not the default ``width``, so that
        models made before it existed keep their content hashes)."""
        data = {
            "representation": self.representation.name,
            "features": self.representation.features,
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
        }
        scale = self.representation.breit_wigner_scale
        return data if scale == "width" else {**data, "breit_wigner_scale": scale}

    @classmethod
    def from_dict(cls, data: dict) -> Preprocessor:
        """Inverse of :meth:`to_dict`; checks the feature layout matches this version."""
        scale = data.get("breit_wigner_scale", "width")
        representation = get(data.get("representation", "particles"), scale)
        if data.get("features") != representation.features:
            raise ValueError("preprocessing statistics were made for a different feature layout")
        return cls(np.asarray(data["mean"]), np.asarray(data["std"]), representation.name, scale)
