"""Bring your own expert: SAC agents trained with other libraries, imported as daftrl experts
(docs/adaptation.md, "Bring your own expert").

    from daftrl.importers import import_sb3, write_expert
    imported = import_sb3("sac_hopper.zip", env="Hopper-v5")     # an SB3 or SBX SAC save; nothing in it runs
    write_expert(imported)                                       # $DAFTRL_HOME/experts/sac_hopper/

`daftrl expert import --sb3 sac_hopper.zip --env Hopper-v5` does the same; `Adapter.from_sb3` adapts one directly.
Importing this package loads numpy and gymnasium only; torch loads when an SB3 save is read.
"""

from __future__ import annotations

from daftrl.importers.sac_import import Imported, import_sb3, write_expert

__all__ = ["Imported", "import_sb3", "write_expert"]
