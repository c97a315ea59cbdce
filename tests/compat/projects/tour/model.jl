println("julia: ", ENV["ORCHEST_PIPELINE_UUID"])
