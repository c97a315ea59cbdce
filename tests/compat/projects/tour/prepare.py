import os

import orchest
from lib.series import series

values = series(orchest.get_step_param("rows"), orchest.get_pipeline_param("scale"))
orchest.output(values, name="values")

# A file in the shared data directory, as Orchest projects keep their data.
tag = orchest.get_pipeline_param("tag")
os.makedirs("/data/tour", exist_ok=True)
with open(f"/data/tour/{tag}.txt", "w") as f:
    f.write(f"{os.environ['DATASET']}:{tag}")
print("prepared", values)
