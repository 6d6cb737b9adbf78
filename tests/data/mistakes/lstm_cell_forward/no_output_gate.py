# expect: OUTPUT_GATE_OMITTED
concat = np.vstack((a_prev, xt))
ft = sigmoid(Wf @ concat + bf)
it = sigmoid(Wi @ concat + bi)
cct = np.tanh(Wc @ concat + bc)
c_next = ft * c_prev + it * cct
ot = sigmoid(Wo @ concat + bo)
a_next = np.tanh(c_next)
yt_pred = softmax(Wy @ a_next + by)
