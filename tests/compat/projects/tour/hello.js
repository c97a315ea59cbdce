console.log("node:", process.env.ORCHEST_PIPELINE_UUID);
